//! [`UdpSocket`]: datagrams on the ring, received by one multishot `RECVMSG` per socket.

use std::cell::Cell;
use std::future::poll_fn;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;

use bytes::Bytes;
use socket2::{Domain, Protocol, Socket, Type};

use crate::transport::datagram::DatagramCore;
use crate::transport::outbound::Waiter;

/// Socket options set before `bind` (see [`UdpSocket::bind_with`]).
///
/// ```
/// let options = ringstream::net::UdpOptions::new().reuse_address(true).reuse_port(true);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default)]
pub struct UdpOptions {
    reuse_address: bool,
    reuse_port: bool,
    recv_buffer_size: Option<usize>,
    send_buffer_size: Option<usize>,
}

impl UdpOptions {
    /// No options: the kernel's defaults.
    pub fn new() -> UdpOptions {
        UdpOptions::default()
    }

    /// `SO_REUSEADDR` (asyncio's `reuse_address`; off by default).
    pub fn reuse_address(mut self, on: bool) -> UdpOptions {
        self.reuse_address = on;
        self
    }

    /// `SO_REUSEPORT` (asyncio's `reuse_port`): several sockets share the port and the
    /// kernel spreads datagrams over them.
    pub fn reuse_port(mut self, on: bool) -> UdpOptions {
        self.reuse_port = on;
        self
    }

    /// `SO_RCVBUF`: the kernel's receive buffer (datagrams beyond it are dropped and
    /// counted, see [`UdpSocket::drops`]).
    pub fn recv_buffer_size(mut self, bytes: usize) -> UdpOptions {
        self.recv_buffer_size = Some(bytes);
        self
    }

    /// `SO_SNDBUF`.
    pub fn send_buffer_size(mut self, bytes: usize) -> UdpOptions {
        self.send_buffer_size = Some(bytes);
        self
    }
}

/// A UDP socket on the current core's ring (asyncio's datagram endpoint, as an async API).
///
/// Receiving: one multishot `RECVMSG` with buffers from the runtime's provided-buffer ring
/// serves every datagram; they wait in a bounded queue (see
/// [`set_recv_queue_limit`](UdpSocket::set_recv_queue_limit)) until [`recv_from`] takes
/// them. A datagram too long for a receive buffer is reported as an `InvalidData` error in
/// its place, not silently cut; an ICMP error (`ECONNREFUSED` from a closed port on a
/// connected socket) is returned by the next receive. Sending: datagrams are queued and
/// sent in order; the queue follows the streams' watermarks (`get_write_buffer_size`,
/// `drain`).
///
/// Dropping the socket closes it (queued datagrams are still sent).
///
/// [`recv_from`]: UdpSocket::recv_from
///
/// ```no_run
/// ringstream::run(async {
///     let server = ringstream::net::UdpSocket::bind("127.0.0.1:9999".parse().unwrap())?;
///     loop {
///         let (data, from) = server.recv_from().await?;
///         server.send_to_bytes(data, from).await?;
///     }
///     # #[allow(unreachable_code)]
///     Ok::<(), std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
#[doc(alias = "DatagramTransport")]
#[doc(alias = "create_datagram_endpoint")]
pub struct UdpSocket {
    core: Rc<DatagramCore>,
    connected: Cell<bool>,
}

impl std::fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local", &self.local_addr().ok())
            .field("closing", &self.is_closing())
            .finish()
    }
}

impl UdpSocket {
    /// Binds a UDP socket to `addr` (port 0: the kernel picks one) on this core's ring.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// println!("{}", socket.local_addr()?);
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
        UdpSocket::bind_with(addr, &UdpOptions::new())
    }

    /// [`bind`](UdpSocket::bind) with options that must be set before binding.
    ///
    /// ```no_run
    /// use ringstream::net::{UdpOptions, UdpSocket};
    /// # ringstream::run(async {
    /// let options = UdpOptions::new().reuse_port(true);
    /// let socket = UdpSocket::bind_with("0.0.0.0:5353".parse().unwrap(), &options)?;
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn bind_with(addr: SocketAddr, options: &UdpOptions) -> io::Result<UdpSocket> {
        let socket = Socket::new(
            Domain::for_address(addr),
            Type::DGRAM.cloexec(),
            Some(Protocol::UDP),
        )?;
        socket.set_reuse_address(options.reuse_address)?;
        socket.set_reuse_port(options.reuse_port)?;
        if let Some(bytes) = options.recv_buffer_size {
            socket.set_recv_buffer_size(bytes)?;
        }
        if let Some(bytes) = options.send_buffer_size {
            socket.set_send_buffer_size(bytes)?;
        }
        socket.bind(&addr.into()).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("binding the UDP socket to {addr} failed: {e}"),
            )
        })?;
        UdpSocket::from_socket(socket)
    }

    /// Takes a bound `std` UDP socket onto this core's ring.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// let std_socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let socket = ringstream::net::UdpSocket::from_std(std_socket)?;
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        UdpSocket::from_socket(Socket::from(socket))
    }

    fn from_socket(socket: Socket) -> io::Result<UdpSocket> {
        // The ring does the waiting; a blocking socket lets a send wait for buffer room
        // in the kernel instead of failing with EAGAIN.
        socket.set_nonblocking(false)?;
        let connected = socket.peer_addr().is_ok();
        Ok(UdpSocket {
            core: DatagramCore::new(socket)?,
            connected: Cell::new(connected),
        })
    }

    /// Sets the default destination and accepts datagrams from `addr` only; ICMP errors
    /// from it are then reported by the next receive.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// socket.connect("127.0.0.1:9999".parse().unwrap())?;
    /// socket.send(b"ping").await?;
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        self.core.with_socket(|s| s.connect(&addr.into()))?;
        self.connected.set(true);
        Ok(())
    }

    /// Queues `data` as one datagram to `addr`; waits only while the send queue is over its
    /// high watermark (as `write` then `drain`).
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// socket.send_to(b"hello", "127.0.0.1:9999".parse().unwrap()).await?;
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    #[doc(alias = "sendto")]
    pub async fn send_to(&self, data: &[u8], addr: SocketAddr) -> io::Result<()> {
        self.send_to_bytes(self.core.copy_in(data), addr).await
    }

    /// [`send_to`](UdpSocket::send_to) without a copy.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// let data = bytes::Bytes::from_static(b"hello");
    /// socket.send_to_bytes(data, "127.0.0.1:9999".parse().unwrap()).await?;
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub async fn send_to_bytes(&self, data: Bytes, addr: SocketAddr) -> io::Result<()> {
        self.queue(data, Some(addr))?;
        self.drain().await
    }

    /// Queues one datagram to `addr` or, without one, to the connected peer.
    pub(crate) fn queue(&self, data: Bytes, addr: Option<SocketAddr>) -> io::Result<()> {
        if addr.is_none() && !self.connected.get() {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "sending without an address on a UDP socket that is not connected: connect \
                 it first or give the destination",
            ));
        }
        self.core.send(data, addr)
    }

    /// The socket's core (the protocol front-end dispatches from it).
    pub(crate) fn core(&self) -> &DatagramCore {
        &self.core
    }

    /// Sends `data` to the connected peer (see [`connect`](UdpSocket::connect)).
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// socket.connect("127.0.0.1:9999".parse().unwrap())?;
    /// socket.send(b"ping").await?;
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub async fn send(&self, data: &[u8]) -> io::Result<()> {
        self.send_bytes(self.core.copy_in(data)).await
    }

    /// [`send`](UdpSocket::send) without a copy.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// socket.connect("127.0.0.1:9999".parse().unwrap())?;
    /// socket.send_bytes(bytes::Bytes::from_static(b"ping")).await?;
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub async fn send_bytes(&self, data: Bytes) -> io::Result<()> {
        self.queue(data, None)?;
        self.drain().await
    }

    /// The next datagram and its sender. Cancel safe: a datagram is taken off the queue
    /// only when this returns it, so dropping the future loses none.
    ///
    /// Errors: an ICMP error reported for an earlier datagram (`ECONNREFUSED`, ...) or a
    /// datagram too long for the receive buffers (`InvalidData`), each once, in order with
    /// the datagrams; the socket's failure; the socket being closed.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// let socket = ringstream::net::UdpSocket::bind("127.0.0.1:9999".parse().unwrap())?;
    /// let (data, from) = socket.recv_from().await?;
    /// println!("{} bytes from {from}", data.len());
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    #[doc(alias = "datagram_received")]
    pub async fn recv_from(&self) -> io::Result<(Bytes, SocketAddr)> {
        poll_fn(|cx| self.core.poll_recv(cx)).await
    }

    /// The next datagram, without its sender (for a connected socket).
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// socket.connect("127.0.0.1:9999".parse().unwrap())?;
    /// let reply = socket.recv().await?;
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub async fn recv(&self) -> io::Result<Bytes> {
        self.recv_from().await.map(|(data, _)| data)
    }

    /// Waits while the send queue is over its high watermark (F4).
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// socket.drain().await?;
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub async fn drain(&self) -> io::Result<()> {
        struct Drain<'a> {
            core: &'a DatagramCore,
            waiter: Waiter,
        }
        impl Drop for Drain<'_> {
            fn drop(&mut self) {
                self.core.cancel_drain(&mut self.waiter);
            }
        }
        let mut drain = Drain {
            core: &self.core,
            waiter: Waiter::default(),
        };
        poll_fn(|cx| drain.core.poll_drain(cx, &mut drain.waiter)).await
    }

    /// Queued plus in-flight bytes of the send queue.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// assert_eq!(socket.get_write_buffer_size(), 0);
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn get_write_buffer_size(&self) -> usize {
        self.core.write_buffer_size()
    }

    /// The send queue's watermarks as `(low, high)`.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// assert_eq!(socket.get_write_buffer_limits(), (16 * 1024, 64 * 1024));
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        self.core.write_buffer_limits()
    }

    /// Sets the send queue's watermarks, with the streams' rules (F3).
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// socket.set_write_buffer_limits(Some(1 << 20), None)?;
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn set_write_buffer_limits(
        &self,
        high: Option<usize>,
        low: Option<usize>,
    ) -> io::Result<()> {
        self.core.set_write_buffer_limits(high, low)
    }

    /// How many bytes of received datagrams (each counted with a 64-byte overhead) may
    /// wait for [`recv_from`](UdpSocket::recv_from) before receiving stops; the kernel
    /// then holds the next ones in the socket buffer (`SO_RCVBUF`) and drops, counted, what
    /// does not fit there. Default 256 KiB.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// socket.set_recv_queue_limit(1 << 20);
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn set_recv_queue_limit(&self, bytes: usize) {
        self.core.set_recv_queue_limit(bytes);
    }

    /// Datagrams the kernel dropped because the socket's receive buffer was full, as far
    /// as it has told: the count arrives with the next datagram delivered after the drops.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// println!("{} datagrams dropped", socket.drops());
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn drops(&self) -> u64 {
        self.core.drops()
    }

    /// The local address.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// let port = socket.local_addr()?.port();
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.core.with_socket(|s| socket_addr(s.local_addr()?))
    }

    /// The connected peer's address.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// socket.connect("127.0.0.1:9999".parse().unwrap())?;
    /// assert_eq!(socket.peer_addr()?.port(), 9999);
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.core.with_socket(|s| socket_addr(s.peer_addr()?))
    }

    /// `SO_BROADCAST`.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("0.0.0.0:0".parse().unwrap())?;
    /// socket.set_broadcast(true)?;
    /// assert!(socket.broadcast()?);
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.core.with_socket(|s| s.set_broadcast(on))
    }

    /// Whether `SO_BROADCAST` is set.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("0.0.0.0:0".parse().unwrap())?;
    /// let on = socket.broadcast()?;
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn broadcast(&self) -> io::Result<bool> {
        self.core.with_socket(|s| s.broadcast())
    }

    /// Joins IPv4 multicast group `group` on the interface with address `interface`
    /// (`0.0.0.0`: the kernel picks).
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("0.0.0.0:5353".parse().unwrap())?;
    /// socket.join_multicast_v4("224.0.0.251".parse().unwrap(), "0.0.0.0".parse().unwrap())?;
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn join_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.core
            .with_socket(|s| s.join_multicast_v4(&group, &interface))
    }

    /// Leaves an IPv4 multicast group joined with [`join_multicast_v4`](UdpSocket::join_multicast_v4).
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("0.0.0.0:5353".parse().unwrap())?;
    /// let (group, any) = ("224.0.0.251".parse().unwrap(), "0.0.0.0".parse().unwrap());
    /// socket.join_multicast_v4(group, any)?;
    /// socket.leave_multicast_v4(group, any)?;
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn leave_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.core
            .with_socket(|s| s.leave_multicast_v4(&group, &interface))
    }

    /// `IP_MULTICAST_LOOP`: whether this host's own multicast datagrams come back.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("0.0.0.0:0".parse().unwrap())?;
    /// socket.set_multicast_loop_v4(false)?;
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.core.with_socket(|s| s.set_multicast_loop_v4(on))
    }

    /// `IP_TTL` for unicast datagrams.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// socket.set_ttl(4)?;
    /// assert_eq!(socket.ttl()?, 4);
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.core.with_socket(|s| s.set_ttl_v4(ttl))
    }

    /// `IP_TTL`.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// let ttl = socket.ttl()?;
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        self.core.with_socket(|s| s.ttl_v4())
    }

    /// `IP_MULTICAST_TTL`.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("0.0.0.0:0".parse().unwrap())?;
    /// socket.set_multicast_ttl_v4(2)?;
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.core.with_socket(|s| s.set_multicast_ttl_v4(ttl))
    }

    /// `SO_RCVBUF` (the kernel reports double what was set: its bookkeeping share).
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// socket.set_recv_buffer_size(1 << 20)?;
    /// println!("{}", socket.recv_buffer_size()?);
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn set_recv_buffer_size(&self, bytes: usize) -> io::Result<()> {
        self.core.with_socket(|s| s.set_recv_buffer_size(bytes))
    }

    /// `SO_RCVBUF`.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// let bytes = socket.recv_buffer_size()?;
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        self.core.with_socket(|s| s.recv_buffer_size())
    }

    /// `SO_SNDBUF`.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// socket.set_send_buffer_size(1 << 20)?;
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn set_send_buffer_size(&self, bytes: usize) -> io::Result<()> {
        self.core.with_socket(|s| s.set_send_buffer_size(bytes))
    }

    /// `SO_SNDBUF`.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// let bytes = socket.send_buffer_size()?;
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        self.core.with_socket(|s| s.send_buffer_size())
    }

    /// Stops receiving, sends what is queued, then closes the socket. Idempotent; later
    /// sends and receives are errors.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// socket.close();
    /// socket.wait_closed().await;
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn close(&self) {
        self.core.close();
    }

    /// Drops the send queue and closes the socket now.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// socket.abort();
    /// assert!(socket.is_closing());
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn abort(&self) {
        self.core.abort();
    }

    /// Whether [`close`](UdpSocket::close) or [`abort`](UdpSocket::abort) was called.
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// assert!(!socket.is_closing());
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub fn is_closing(&self) -> bool {
        self.core.is_closing()
    }

    /// Waits until the socket is closed (its queue sent, its descriptor released).
    ///
    /// ```no_run
    /// # ringstream::run(async {
    /// # let socket = ringstream::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// socket.close();
    /// socket.wait_closed().await;
    /// # Ok::<(), std::io::Error>(()) }).unwrap().unwrap();
    /// ```
    pub async fn wait_closed(&self) {
        poll_fn(|cx| self.core.poll_closed(cx)).await
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        self.core.close();
    }
}

fn socket_addr(addr: socket2::SockAddr) -> io::Result<SocketAddr> {
    addr.as_socket()
        .ok_or_else(|| io::Error::other("the socket's address is neither IPv4 nor IPv6"))
}
