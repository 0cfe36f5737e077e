//! One core's open connections, so the server can close or abort them all, and know when
//! the last handler finished.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use slab::Slab;

use crate::transport::conn::Conn;

use super::control::Control;

#[derive(Default)]
pub(crate) struct Clients {
    conns: RefCell<Slab<Rc<Conn>>>,
    idle_waker: RefCell<Option<Waker>>,
    /// The last connection left since `poll_emptied` last said so.
    emptied: Cell<bool>,
    emptied_waker: RefCell<Option<Waker>>,
}

impl Clients {
    /// Registers a connection; it stays registered until the guard drops (its handler
    /// ended, returned, failed or panicked).
    pub(crate) fn register(
        self: &Rc<Self>,
        conn: Rc<Conn>,
        control: Arc<Control>,
        core: usize,
    ) -> ClientGuard {
        let key = self.conns.borrow_mut().insert(conn);
        control.cores[core].active.fetch_add(1, Ordering::Relaxed);
        control.cores[core].accepted.fetch_add(1, Ordering::Relaxed);
        ClientGuard {
            clients: self.clone(),
            key,
            control,
            core,
        }
    }

    /// `close()` on every connection: queued bytes are still sent, then it closes.
    pub(crate) fn close_all(&self) {
        let conns: Vec<Rc<Conn>> = self.conns.borrow().iter().map(|(_, c)| c.clone()).collect();
        for conn in conns {
            conn.close();
        }
    }

    /// `abort()` on every connection: dropped at once.
    pub(crate) fn abort_all(&self) {
        let conns: Vec<Rc<Conn>> = self.conns.borrow().iter().map(|(_, c)| c.clone()).collect();
        for conn in conns {
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
        let conn = self.clients.conns.borrow_mut().try_remove(self.key);
        self.control.cores[self.core]
            .active
            .fetch_sub(1, Ordering::Relaxed);
        // The handler is gone: whatever it left open closes (queued bytes still go out).
        if let Some(conn) = conn {
            conn.close();
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
