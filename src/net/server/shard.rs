//! One core's part of a server: accept on its own listener, run a handler task per
//! connection, obey the handle's commands, back off when out of descriptors, stop
//! accepting at its share of `max_connections`, and time connections out.

use std::future::{poll_fn, Future};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use crate::net::listener::accept_error;
use crate::net::Listener;
use crate::runtime::time::{interval, sleep, Interval, Sleep};
use crate::stream::Stream;

use super::catch_unwind::{panic_message, CatchUnwind};
use super::clients::Clients;
use super::control::{Commands, Control};
use super::failure::{FailureCause, HandlerFailure};
use super::memory;
use super::watchdog::Timeouts;

/// First pause after an accept failed for lack of descriptors or memory; doubles up to
/// `MAX_BACKOFF` while the failures go on.
const MIN_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_millis(500);

enum Event {
    Accepted(io::Result<Stream>),
    Closed,
    CloseClients,
    AbortClients,
    /// Time to look at the connections' timeouts.
    Tick,
    /// `max_connections` reached: stop accepting.
    Full,
    /// Below `max_connections` again: accept again.
    Room,
}

/// What a shard enforces on its connections.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Limits {
    /// This core's share of `max_connections`.
    pub max_connections: Option<usize>,
    pub timeouts: Timeouts,
}

/// Runs until the server is closed and every handler of this core has finished.
pub(crate) async fn run<H, Fut>(
    index: usize,
    listener: Listener,
    handler: H,
    control: Arc<Control>,
    limits: Limits,
) where
    H: Fn(Stream) -> Fut,
    Fut: Future<Output = io::Result<()>> + 'static,
{
    let core = &control.cores[index];
    let clients = Rc::new(Clients::new(&limits.timeouts));
    let trimmer = crate::runtime::spawn(memory::release_after_bursts(clients.clone()));
    let mut seen = Commands::default();
    let mut backoff: Option<Pin<Box<Sleep>>> = None;
    let mut delay = MIN_BACKOFF;
    let mut sweep: Option<Interval> = limits.timeouts.tick().map(interval);
    let mut full = false;
    loop {
        let event = poll_fn(|cx| {
            let commands = core.poll_commands(cx);
            if let Some(event) = command_event(&commands, &mut seen) {
                return Poll::Ready(event);
            }
            if commands.closed {
                return Poll::Ready(Event::Closed);
            }
            if sweep.as_mut().is_some_and(|s| s.poll_tick(cx).is_ready()) {
                return Poll::Ready(Event::Tick);
            }
            if !commands.serving {
                return Poll::Pending;
            }
            if let Some(pause) = backoff.as_mut() {
                if pause.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                backoff = None;
            }
            if let Some(max) = limits.max_connections {
                match (clients.poll_below(max, cx).is_ready(), full) {
                    (false, false) => return Poll::Ready(Event::Full),
                    (false, true) => return Poll::Pending,
                    (true, true) => return Poll::Ready(Event::Room),
                    (true, false) => {}
                }
            }
            listener.poll_accept(cx).map(Event::Accepted)
        })
        .await;
        match event {
            Event::Accepted(Ok(stream)) => {
                delay = MIN_BACKOFF;
                start_handler(index, stream, &handler, &clients, &control);
            }
            Event::Accepted(Err(e)) if out_of_resources(&e) => {
                #[cfg(feature = "tracing")]
                crate::trace::accept_backoff(index, &e, delay);
                log::warn!(
                    "ringstream server (core {index}): {}; pausing accepts for {delay:?}, \
                     open connections go on",
                    accept_error(e)
                );
                backoff = Some(Box::pin(sleep(delay)));
                delay = (delay * 2).min(MAX_BACKOFF);
            }
            // A connection that died in the backlog (ECONNABORTED) and the like: next one.
            Event::Accepted(Err(e)) => {
                log::debug!("ringstream server (core {index}): {}", accept_error(e))
            }
            Event::CloseClients => clients.close_all(),
            Event::AbortClients => clients.abort_all(),
            Event::Tick => {
                clients.sweep(index);
            }
            Event::Full => {
                full = true;
                listener.pause();
                log::warn!(
                    "ringstream server (core {index}): {} connections open, this core's share \
                     of max_connections; new clients wait in the backlog until one closes",
                    clients.len()
                );
            }
            Event::Room => {
                full = false;
                log::info!(
                    "ringstream server (core {index}): below max_connections again ({} open), \
                     accepting",
                    clients.len()
                );
            }
            Event::Closed => break,
        }
    }
    // Stop listening; connections the kernel accepted but nobody took are closed with it.
    drop(listener);
    // Timeouts still apply to the connections that remain.
    poll_fn(|cx| {
        let commands = core.poll_commands(cx);
        if let Some(event) = command_event(&commands, &mut seen) {
            match event {
                Event::CloseClients => clients.close_all(),
                Event::AbortClients => clients.abort_all(),
                _ => {}
            }
            // Poll again at once: the commands may have moved on.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if sweep.as_mut().is_some_and(|s| s.poll_tick(cx).is_ready()) {
            clients.sweep(index);
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        clients.poll_idle(cx)
    })
    .await;
    trimmer.abort();
}

/// The next client command not yet acted on.
fn command_event(commands: &Commands, seen: &mut Commands) -> Option<Event> {
    if commands.abort_clients != seen.abort_clients {
        seen.abort_clients = commands.abort_clients;
        return Some(Event::AbortClients);
    }
    if commands.close_clients != seen.close_clients {
        seen.close_clients = commands.close_clients;
        return Some(Event::CloseClients);
    }
    None
}

fn out_of_resources(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Spawns the handler of one connection; its failure or panic is reported and closes only
/// this connection.
fn start_handler<H, Fut>(
    index: usize,
    stream: Stream,
    handler: &H,
    clients: &Rc<Clients>,
    control: &Arc<Control>,
) where
    H: Fn(Stream) -> Fut,
    Fut: Future<Output = io::Result<()>> + 'static,
{
    let peer = stream.writer.peer_addr().ok();
    #[cfg(feature = "tracing")]
    let span = crate::trace::connection_span(index, peer.as_ref());
    let guard = clients.register(stream.writer.conn().clone(), control.clone(), index);
    let control = control.clone();
    let report = move |cause| {
        control.report(&HandlerFailure {
            core: index,
            peer,
            cause,
        })
    };
    // The handler's synchronous part may panic too.
    let future = match catch_unwind(AssertUnwindSafe(|| handler(stream))) {
        Ok(future) => future,
        Err(payload) => {
            report(FailureCause::Panic(panic_message(payload.as_ref())));
            drop(guard);
            return;
        }
    };
    #[cfg(feature = "tracing")]
    let future = tracing::Instrument::instrument(future, span);
    drop(crate::runtime::spawn(async move {
        let outcome = CatchUnwind::new(future).await;
        drop(guard);
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => report(FailureCause::Error(e)),
            Err(message) => report(FailureCause::Panic(message)),
        }
    }));
}
