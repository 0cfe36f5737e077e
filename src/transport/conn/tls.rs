//! TLS on a connection: the record layer (`transport::tls`) between the ring and the
//! inbound / outbound state, so everything above (every read rule and limit, the write
//! buffer's watermarks, cancel safety, the server's timeouts) works on TLS unchanged.
//!
//! - Each receive's ciphertext goes through the session; the plaintext it decrypts is fed to
//!   the inbound buffer as a plain receive's bytes are (copied, never lent: it is rustls's
//!   memory). Handshake replies and alerts are queued for the next send.
//! - Writes are encrypted as they are queued, so the send queue and its watermarks hold
//!   ciphertext.
//! - The peer's `close_notify` is the reader's EOF; a TCP EOF without one is an
//!   `UnexpectedEof` error after the data before it (a truncation attack looks like that).
//! - `close()` queues our `close_notify` before the FIN and is bounded by the shutdown
//!   timeout (asyncio's `ssl_shutdown_timeout`): a peer that stops reading gets an abort.
//!   We do not wait for the peer's `close_notify` (RFC 8446 6.1 lets the closing side go).
//! - The handshake is bounded by the handshake timeout; a connection still handshaking
//!   then fails with `TimedOut`.
//! - A protocol error queues the alert rustls made, fails the reader with the error, and
//!   closes once the alert is sent.
//!
//! Both timeouts are a small task each, holding only a weak reference, that ends when what
//! it waits for happens.

use std::future::poll_fn;
use std::io;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;

use crate::transport::outbound::{Outbound, Waiter, Waiters, COALESCE_BELOW};
use crate::transport::stored_error::StoredError;
use crate::transport::tls::{Received, TlsSession};

use super::Conn;

/// A connection's TLS: the session and where its handshake is.
#[derive(Debug)]
pub(crate) struct TlsState {
    session: TlsSession,
    /// Where ciphertext records are gathered into send pieces. Split off for each write
    /// and reclaimed whole by the next one once the pieces are sent, so a streaming
    /// connection reuses one warm allocation instead of freeing and faulting in a fresh
    /// one per write (glibc gives large freed chunks back to the kernel at once); released
    /// when the connection goes quiet (`release_idle_tls_memory`).
    staging: BytesMut,
    /// `None` once the handshake is over; else whoever waits for it (the caller of
    /// `start_tls` and the handshake timeout's task).
    handshake: Option<Waiters>,
    /// The peer's `close_notify` arrived.
    peer_closed: bool,
    /// Our `close_notify` is queued.
    closing: bool,
    shutdown_timeout: Duration,
    /// The name a client asked for (the server's rustls connection knows the one it got).
    server_name: Option<String>,
}

/// What a connection upgraded to TLS is given besides its session.
#[derive(Debug, Clone)]
pub(crate) struct TlsSetup {
    pub(crate) handshake_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    /// A client's server name (SNI and the certificate's expected name).
    pub(crate) server_name: Option<String>,
}

/// Queues ciphertext from the session into the send queue: small records into the
/// coalescing tail, larger ones gathered in the staging buffer into one piece per call.
struct IntoQueue<'a> {
    outbound: &'a mut Outbound,
    staging: &'a mut BytesMut,
}

impl io::Write for IntoQueue<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[io::IoSlice::new(buf)])
    }

    /// rustls hands over every record it has queued at once: they become one piece.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total < COALESCE_BELOW {
            for buf in bufs {
                self.outbound.write_slice(buf)?;
            }
            return Ok(total);
        }
        // Reclaims the whole allocation when every piece split from it was sent.
        self.staging.reserve(total);
        for buf in bufs {
            self.staging.extend_from_slice(buf);
        }
        self.outbound.write(self.staging.split().freeze())?;
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Conn {
    /// Starts TLS with `session` (a client sends its hello now). What the reader holds
    /// stays there, ahead of the first plaintext, and what is queued goes out before the
    /// first TLS record, as in asyncio's `start_tls`.
    ///
    /// # Errors
    /// `InvalidInput` when the connection already speaks TLS; `NotConnected` once it is
    /// closing or the peer ended it; `InvalidInput` after `write_eof()`.
    pub(crate) fn start_tls(&self, session: rustls::Connection, setup: TlsSetup) -> io::Result<()> {
        if self.tls.borrow().is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "start_tls on a connection that already speaks TLS",
            ));
        }
        if self.is_closing() || self.inbound.borrow().is_over() {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "start_tls on a connection that is closing or that the peer ended",
            ));
        }
        self.outbound.borrow().check_writable().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "start_tls after write_eof(): TLS needs the write side",
            )
        })?;
        *self.tls.borrow_mut() = Some(Box::new(TlsState {
            session: TlsSession::new(session),
            staging: BytesMut::new(),
            handshake: Some(Waiters::default()),
            peer_closed: false,
            closing: false,
            shutdown_timeout: setup.shutdown_timeout,
            server_name: setup.server_name,
        }));
        let limit = setup.handshake_timeout;
        self.queue_ciphertext();
        let weak = self.weak_self.clone();
        let waits = Waits {
            poll: Conn::poll_handshake_over,
            cancel: Conn::cancel_handshake_wait,
        };
        watch(weak, limit, waits, move |conn| {
            if conn.tls_handshaking() {
                conn.fail(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the TLS handshake did not finish within {:?} (the handshake \
                         timeout); the peer is slow or does not speak TLS",
                        limit
                    ),
                ));
            }
        });
        Ok(())
    }

    /// Whether the connection speaks TLS.
    pub(crate) fn is_tls(&self) -> bool {
        self.tls.borrow().is_some()
    }

    fn tls_handshaking(&self) -> bool {
        self.tls
            .borrow()
            .as_ref()
            .is_some_and(|tls| tls.handshake.is_some())
    }

    /// `f` of the rustls connection and the name a client asked for, for the facts of the
    /// session; `None` without TLS or while the handshake runs.
    pub(crate) fn with_tls<T>(
        &self,
        f: impl FnOnce(&rustls::Connection, Option<&str>) -> T,
    ) -> Option<T> {
        let tls = self.tls.borrow();
        let tls = tls.as_ref().filter(|tls| tls.handshake.is_none())?;
        Some(f(tls.session.connection(), tls.server_name.as_deref()))
    }

    /// Ready once the handshake finished (`Ok`) or the connection ended before it did (its
    /// error).
    pub(crate) fn poll_handshake(
        &self,
        cx: &mut Context<'_>,
        waiter: &mut Waiter,
    ) -> Poll<io::Result<()>> {
        {
            let mut tls = self.tls.borrow_mut();
            let Some(tls) = tls.as_mut() else {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the connection does not speak TLS",
                )));
            };
            let Some(waiters) = tls.handshake.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            if !(self.inbound.borrow().is_over() || self.is_closing()) {
                waiters.park(waiter, cx.waker());
                return Poll::Pending;
            }
        }
        Poll::Ready(Err(self.inbound.borrow().stored_error().unwrap_or_else(
            || {
                io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "the connection ended during the TLS handshake",
                )
            },
        )))
    }

    fn poll_handshake_over(&self, cx: &mut Context<'_>, waiter: &mut Waiter) -> Poll<()> {
        self.poll_handshake(cx, waiter).map(drop)
    }

    fn cancel_handshake_wait(&self, waiter: &mut Waiter) {
        if let Some(waiters) = self
            .tls
            .borrow_mut()
            .as_mut()
            .and_then(|tls| tls.handshake.as_mut())
        {
            waiters.remove(waiter);
        }
    }

    /// Wakes whoever waits for the handshake (it finished, or the connection ended).
    pub(super) fn wake_handshake(&self) {
        if let Some(waiters) = self
            .tls
            .borrow_mut()
            .as_mut()
            .and_then(|tls| tls.handshake.as_mut())
        {
            waiters.wake_all();
        }
    }

    /// Ciphertext one receive brought: decrypts it into the reader's buffer. Called with the
    /// receive buffer still borrowed, so it only touches the session and the inbound state;
    /// [`tls_received`](Self::tls_received) acts on the outcome.
    pub(super) fn tls_decrypt(&self, data: &[u8]) -> Option<io::Result<Received>> {
        let mut tls = self.tls.borrow_mut();
        let tls = tls.as_mut()?;
        let mut inbound = self.inbound.borrow_mut();
        // After close() or a failure nobody reads the plaintext; handshake messages and
        // alerts still count.
        let over = inbound.is_over();
        if !over {
            // The plaintext is at most the ciphertext (and what rustls held of a record
            // begun in an earlier receive): room for it in one allocation.
            inbound.reserve(data.len());
        }
        Some(tls.session.receive(data, |plain| {
            if !over {
                let _ = inbound.feed_data(plain);
            }
        }))
    }

    /// Acts on what a receive's ciphertext did: queue the replies, finish the handshake,
    /// see the peer's `close_notify`, or fail on a protocol error once its alert is sent.
    pub(super) fn tls_received(&self, outcome: io::Result<Received>) {
        self.queue_ciphertext();
        match outcome {
            Ok(seen) => {
                if seen.handshake_done {
                    let waiters = self
                        .tls
                        .borrow_mut()
                        .as_mut()
                        .and_then(|tls| tls.handshake.take());
                    if let Some(mut waiters) = waiters {
                        waiters.wake_all();
                    }
                }
                if seen.peer_closed {
                    if let Some(tls) = self.tls.borrow_mut().as_mut() {
                        tls.peer_closed = true;
                    }
                    let mut inbound = self.inbound.borrow_mut();
                    if !inbound.is_over() {
                        inbound.feed_eof();
                    }
                }
            }
            Err(error) => self.fail_after_alert(error),
        }
    }

    /// The peer's EOF on a TLS connection: clean after its `close_notify`; during the
    /// handshake, or without one, the reader gets an error (after the data it has).
    pub(super) fn tls_eof(&self) {
        let (peer_closed, handshaking) = match self.tls.borrow().as_ref() {
            Some(tls) => (tls.peer_closed, tls.handshake.is_some()),
            None => return,
        };
        if peer_closed {
            return;
        }
        if handshaking {
            self.fail(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed the connection during the TLS handshake (it may have \
                 rejected our certificate, protocol versions or cipher suites; its logs say \
                 which)",
            ));
            return;
        }
        let error = io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the peer closed the connection without a TLS close_notify: the data may be \
             truncated",
        );
        if self.events.borrow().is_some() {
            // A protocol has had all the data already: `connection_lost` gets the error.
            self.fail(error);
            return;
        }
        let mut inbound = self.inbound.borrow_mut();
        if !inbound.is_over() {
            inbound.fail_after_data(Rc::new(StoredError::new(&error)));
        }
    }

    /// A TLS protocol error: the reader fails now, the alert rustls queued still goes out,
    /// then the connection closes (bounded by the shutdown timeout).
    fn fail_after_alert(&self, error: io::Error) {
        if self.is_torn_down() {
            return;
        }
        let error = Rc::new(StoredError::new(&error));
        self.inbound.borrow_mut().fail(error.clone());
        self.outbound.borrow_mut().close_with_error(error);
        self.stop_reading();
        self.schedule_flush();
        self.bound_shutdown();
    }

    /// Encrypts and queues `data`; `None` without TLS (the caller queues it as it is).
    pub(super) fn tls_write(&self, data: &[u8]) -> Option<io::Result<()>> {
        let result = {
            let mut tls = self.tls.borrow_mut();
            let TlsState {
                session, staging, ..
            } = &mut **tls.as_mut()?;
            let mut outbound = self.outbound.borrow_mut();
            outbound
                .check_writable()
                .and_then(|()| session.encrypt(data))
                .and_then(|()| {
                    session.take_ciphertext(&mut IntoQueue {
                        outbound: &mut outbound,
                        staging,
                    })
                })
        };
        self.schedule_flush();
        Some(result)
    }

    /// A send completed: once nothing is queued or in flight and nothing received waits to
    /// be read, the connection is quiet, and its staging buffer goes back to the allocator
    /// (an idle TLS connection keeps no send buffer).
    pub(super) fn release_idle_tls_memory(&self) {
        if !(self.outbound.borrow().is_idle() && self.inbound.borrow().is_empty()) {
            return;
        }
        if let Some(tls) = self.tls.borrow_mut().as_mut() {
            if tls.staging.capacity() > 0 {
                tls.staging = BytesMut::new();
            }
        }
    }

    /// `close()` on a TLS connection: queues `close_notify` (once), and bounds the close by
    /// the shutdown timeout.
    pub(super) fn tls_close(&self) {
        let first = match self.tls.borrow_mut().as_mut() {
            Some(tls) if !tls.closing && !self.outbound.borrow().is_closing() => {
                tls.closing = true;
                tls.session.close_notify();
                true
            }
            _ => false,
        };
        if first {
            self.queue_ciphertext();
            self.bound_shutdown();
        }
    }

    /// Aborts the connection if it has not closed within the shutdown timeout.
    fn bound_shutdown(&self) {
        let Some(limit) = self.tls.borrow().as_ref().map(|tls| tls.shutdown_timeout) else {
            return;
        };
        let waits = Waits {
            poll: |conn, cx, waiter| conn.poll_closed(cx, waiter).map(drop),
            cancel: Conn::cancel_closed,
        };
        watch(self.weak_self.clone(), limit, waits, move |conn| {
            log::debug!(
                "ringstream: a TLS connection did not close within {limit:?} (the shutdown \
                     timeout); aborting it"
            );
            conn.abort();
        });
    }

    /// Moves what the session has to send into the send queue.
    fn queue_ciphertext(&self) {
        let result = match self.tls.borrow_mut().as_mut() {
            Some(tls) => {
                let TlsState {
                    session, staging, ..
                } = &mut **tls;
                session.take_ciphertext(&mut IntoQueue {
                    outbound: &mut self.outbound.borrow_mut(),
                    staging,
                })
            }
            None => return,
        };
        // Only a torn-down queue refuses bytes, and then nobody is waiting for them.
        drop(result);
        self.schedule_flush();
    }
}

/// What a timeout's task waits for, and how it gives its place back.
struct Waits {
    poll: fn(&Conn, &mut Context<'_>, &mut Waiter) -> Poll<()>,
    cancel: fn(&Conn, &mut Waiter),
}

/// Runs `on_timeout` on the connection unless `waits.poll` is ready within `limit`; a task
/// that holds the connection weakly and ends as soon as either happens (or the connection
/// is gone).
fn watch(
    conn: Weak<Conn>,
    limit: Duration,
    waits: Waits,
    on_timeout: impl FnOnce(&Conn) + 'static,
) {
    drop(crate::runtime::spawn(async move {
        let mut waiter = Waiter::default();
        let waited = crate::time::timeout(
            limit,
            poll_fn(|cx| match conn.upgrade() {
                Some(conn) => (waits.poll)(&conn, cx, &mut waiter),
                None => Poll::Ready(()),
            }),
        )
        .await;
        if let Some(conn) = conn.upgrade() {
            (waits.cancel)(&conn, &mut waiter);
            if waited.is_err() {
                on_timeout(&conn);
            }
        }
    }));
}
