//! One core's open connections, so the server can close or abort them all, time out the
//! idle and the slow ones, cap how many are open, and know when the last handler finished.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use slab::Slab;

use crate::transport::conn::Conn;

use super::control::Control;
use super::watchdog::{self, Clock, Timeouts, Verdict, Watch};

struct Client {
    conn: Rc<Conn>,
    watch: Watch,
}

pub(crate) struct Clients {
    conns: RefCell<Slab<Client>>,
    /// The core's tick numbering, when a timeout is set.
    clock: Option<Clock>,
    idle_waker: RefCell<Option<Waker>>,
    /// The accept loop, waiting for a connection to end (`max_connections`).
    slot_waker: RefCell<Option<Waker>>,
    /// The last connection left since `poll_emptied` last said so.
    emptied: Cell<bool>,
    emptied_waker: RefCell<Option<Waker>>,
}

impl Clients {
    pub(crate) fn new(timeouts: &Timeouts) -> Clients {
        Clients {
            conns: RefCell::default(),
            clock: timeouts.clock(Instant::now()),
            idle_waker: RefCell::default(),
            slot_waker: RefCell::default(),
            emptied: Cell::new(false),
            emptied_waker: RefCell::default(),
        }
    }

    /// Registers a connection; it stays registered until the guard drops (its handler
    /// ended, returned, failed or panicked).
    pub(crate) fn register(
        self: &Rc<Self>,
        conn: Rc<Conn>,
        control: Arc<Control>,
        core: usize,
    ) -> ClientGuard {
        let watch = Watch::new(self.clock.map_or(0, |c| c.stamp(Instant::now())));
        let key = self.conns.borrow_mut().insert(Client { conn, watch });
        control.cores[core].active.fetch_add(1, Ordering::Relaxed);
        control.cores[core].accepted.fetch_add(1, Ordering::Relaxed);
        ClientGuard {
            clients: self.clone(),
            key,
            control,
            core,
        }
    }

    /// Connections whose handler is still running.
    pub(crate) fn len(&self) -> usize {
        self.conns.borrow().len()
    }

    /// Ready once fewer than `max` handlers are running.
    pub(crate) fn poll_below(&self, max: usize, cx: &mut Context<'_>) -> Poll<()> {
        if self.len() < max {
            return Poll::Ready(());
        }
        *self.slot_waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }

    /// `close()` on every connection: queued bytes are still sent, then it closes.
    pub(crate) fn close_all(&self) {
        for conn in self.all() {
            conn.close();
        }
    }

    /// `abort()` on every connection: dropped at once.
    pub(crate) fn abort_all(&self) {
        for conn in self.all() {
            conn.abort();
        }
    }

    /// Whether no handler is running.
    pub(crate) fn is_empty(&self) -> bool {
        self.conns.borrow().is_empty()
    }

    /// Ready each time the last connection has left (once per time).
    pub(crate) fn poll_emptied(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.emptied.replace(false) {
            return Poll::Ready(());
        }
        *self.emptied_waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Copies of the connections, so that closing them cannot run into the registry's
    /// borrow.
    fn all(&self) -> Vec<Rc<Conn>> {
        self.conns
            .borrow()
            .iter()
            .map(|(_, c)| c.conn.clone())
            .collect()
    }

    /// Looks at every connection and closes those past a timeout.
    pub(crate) fn sweep(&self, core: usize) {
        let Some(clock) = &self.clock else { return };
        let now = Instant::now();
        let mut timed_out: Vec<(Rc<Conn>, &'static str)> = Vec::new();
        for (_, client) in self.conns.borrow_mut().iter_mut() {
            if let Verdict::Close(which) = client.watch.look(&client.conn, clock, now) {
                timed_out.push((client.conn.clone(), which));
            }
        }
        // Closing wakes handlers; done outside the registry's borrow all the same.
        for (conn, which) in timed_out {
            if log::log_enabled!(log::Level::Debug) {
                let peer = conn.peer_addr().map(|a| a.to_string()).unwrap_or_default();
                log::debug!("ringstream server (core {core}): {which} closes {peer}");
            }
            watchdog::close(conn);
        }
    }

    /// Ready once no handler is running.
    pub(crate) fn poll_idle(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.conns.borrow().is_empty() {
            return Poll::Ready(());
        }
        *self.idle_waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Unregisters its connection when the handler task ends, however it ends.
pub(crate) struct ClientGuard {
    clients: Rc<Clients>,
    key: usize,
    control: Arc<Control>,
    core: usize,
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        let client = self.clients.conns.borrow_mut().try_remove(self.key);
        self.control.cores[self.core]
            .active
            .fetch_sub(1, Ordering::Relaxed);
        // The handler is gone: whatever it left open closes (queued bytes still go out).
        if let Some(client) = client {
            client.conn.close();
        }
        if let Some(w) = self.clients.slot_waker.borrow_mut().take() {
            w.wake();
        }
        if self.clients.conns.borrow().is_empty() {
            if let Some(w) = self.clients.idle_waker.borrow_mut().take() {
                w.wake();
            }
            self.clients.emptied.set(true);
            if let Some(w) = self.clients.emptied_waker.borrow_mut().take() {
                w.wake();
            }
        }
    }
}
